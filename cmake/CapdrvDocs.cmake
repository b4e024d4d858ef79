# API reference (issue #7): HTML and man pages from the Doxygen comments of
# the public headers, include/capdrv/**/*.h, and the tests that keep them
# complete (ctest -L docs).
#
#   target docs (part of ALL when doxygen and python3 are found):
#     <build>/docs/html/index.html       HTML reference
#     <build>/docs/man/man3/             capdrv_<call>.3, one per public function,
#                                        and capdrv_<path>.h.3, one per header
#     <build>/docs/man/man3type/         one page per structure; enums and
#                                        typedefs link to their header's page
#   install (component "docs"): <prefix>/share/man/man3 and man3type.
#   tests (label docs):
#     docs_doxygen                       Doxygen with every warning an error, plus
#                                        an XML check for undocumented enumerators
#     docs_example:capdrv/<h>            the usage example of each header compiles
#     docs_man                           every function the headers declare has an
#                                        installed man page (cmake --install)
#
# The `docs` target fails on a Doxygen warning when CAPDRV_WERROR is ON (like
# the C warnings); docs_doxygen always does. Man pages: docs/Doxyfile.in and
# tools/doc-man say how they are made.
option(CAPDRV_BUILD_DOCS
  "Build the API reference (HTML, man pages) when doxygen and python3 are found" ON)

find_package(Doxygen COMPONENTS doxygen)
find_package(Python3 COMPONENTS Interpreter)

set(CAPDRV_DOCS_DIR "${PROJECT_BINARY_DIR}/docs")
set(_capdrv_docs_ok FALSE)
if(CAPDRV_BUILD_DOCS AND DOXYGEN_FOUND AND Python3_Interpreter_FOUND)
  set(_capdrv_docs_ok TRUE)
endif()

if(_capdrv_docs_ok)
  file(GLOB_RECURSE _capdrv_doc_headers CONFIGURE_DEPENDS
    "${PROJECT_SOURCE_DIR}/include/capdrv/*.h")

  # The build writes its warnings to stderr; docs_doxygen redirects them.
  set(CAPDRV_DOCS_OUT "${CAPDRV_DOCS_DIR}")
  set(CAPDRV_DOCS_WARN_LOGFILE "")
  if(CAPDRV_WERROR)
    set(CAPDRV_DOCS_WARN_AS_ERROR FAIL_ON_WARNINGS)
  else()
    set(CAPDRV_DOCS_WARN_AS_ERROR NO)
  endif()
  configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${CAPDRV_DOCS_DIR}/Doxyfile" @ONLY)

  set(_stamp "${CAPDRV_DOCS_DIR}/docs.stamp")
  add_custom_command(OUTPUT "${_stamp}"
    COMMAND "${CMAKE_COMMAND}" -E rm -rf "${CAPDRV_DOCS_DIR}/html"
            "${CAPDRV_DOCS_DIR}/doxygen-man" "${CAPDRV_DOCS_DIR}/man"
    COMMAND Doxygen::doxygen "${CAPDRV_DOCS_DIR}/Doxyfile"
    COMMAND Python3::Interpreter "${PROJECT_SOURCE_DIR}/tools/doc-man"
            "${CAPDRV_DOCS_DIR}/doxygen-man/man3" "${CAPDRV_DOCS_DIR}/man"
    COMMAND "${CMAKE_COMMAND}" -E touch "${_stamp}"
    DEPENDS ${_capdrv_doc_headers} "${CAPDRV_DOCS_DIR}/Doxyfile"
            "${PROJECT_SOURCE_DIR}/tools/doc-man"
    WORKING_DIRECTORY "${CAPDRV_DOCS_DIR}"
    COMMENT "API reference: Doxygen HTML and man pages in ${CAPDRV_DOCS_DIR}"
    VERBATIM)
  add_custom_target(docs ALL DEPENDS "${_stamp}")

  install(DIRECTORY "${CAPDRV_DOCS_DIR}/man/"
    DESTINATION "${CMAKE_INSTALL_MANDIR}" COMPONENT docs)
elseif(CAPDRV_BUILD_DOCS)
  message(STATUS "API reference not built: needs doxygen and python3 "
                 "(tools/install-deps installs them)")
endif()

if(NOT BUILD_TESTING)
  return()
endif()

set(_tdir "${PROJECT_SOURCE_DIR}/tests/docs")
set(_tout "${PROJECT_BINARY_DIR}/tests/docs")
if(NOT Python3_Interpreter_FOUND)
  add_test(NAME docs_python COMMAND "${CMAKE_COMMAND}" -E echo
    "python3 not found: install python3 (tools/install-deps)")
  set_tests_properties(docs_python PROPERTIES WILL_FAIL TRUE LABELS docs)
  return()
endif()

if(_capdrv_docs_ok)
  add_test(NAME docs_doxygen
    COMMAND Python3::Interpreter "${_tdir}/check_doxygen.py"
      --doxygen "$<TARGET_FILE:Doxygen::doxygen>"
      --doxyfile "${CAPDRV_DOCS_DIR}/Doxyfile" --out "${_tout}/doxygen")
  add_test(NAME docs_man
    COMMAND Python3::Interpreter "${_tdir}/check_man.py"
      --include "${PROJECT_SOURCE_DIR}/include" --mandir "${_tout}/prefix/share/man"
      --install-cmd "${CMAKE_COMMAND}" --install "${PROJECT_BINARY_DIR}"
        --component docs --prefix "${_tout}/prefix")
  set_tests_properties(docs_doxygen docs_man PROPERTIES LABELS docs TIMEOUT 120)
elseif(CAPDRV_BUILD_DOCS)
  # Not a silent pass: the reference is part of the deliverable. (With
  # -DCAPDRV_BUILD_DOCS=OFF the reference and these two tests are left out.)
  add_test(NAME docs_doxygen COMMAND "${CMAKE_COMMAND}" -E echo
    "doxygen not found: install doxygen (tools/install-deps)")
  set_tests_properties(docs_doxygen PROPERTIES WILL_FAIL TRUE LABELS docs)
endif()

# Usage examples: compiled with the project's warnings as errors. An example
# is a fragment nobody calls, hence -Wno-unused-function.
file(GLOB_RECURSE _capdrv_ex_headers CONFIGURE_DEPENDS RELATIVE "${PROJECT_SOURCE_DIR}/include"
  "${PROJECT_SOURCE_DIR}/include/capdrv/*.h")
list(SORT _capdrv_ex_headers)
foreach(h IN LISTS _capdrv_ex_headers)
  add_test(NAME "docs_example:${h}"
    COMMAND Python3::Interpreter "${_tdir}/check_example.py"
      --include "${PROJECT_SOURCE_DIR}/include" --header "${h}" --out "${_tout}/examples"
      --cc "${CMAKE_C_COMPILER}" --
      -std=c11 -pedantic ${CAPDRV_WARNINGS} -Werror -Wno-unused-function -O2)
  set_tests_properties("docs_example:${h}" PROPERTIES LABELS docs TIMEOUT 60)
endforeach()
