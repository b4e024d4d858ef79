# capdrv_add_unit_test(<name> SOURCES <src>... [LIBS <lib>...] [ARGS <arg>...])
# A CMocka test linked against the static library (white-box tests may
# #include a .c file and reach private headers). Label: unit.
function(capdrv_add_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;ARGS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  capdrv_target_defaults(${name})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/kernel-shim
    ${PROJECT_SOURCE_DIR}/kernel-shim/include ${PROJECT_SOURCE_DIR}/src
    ${PROJECT_SOURCE_DIR}/tests/unit)
  target_link_libraries(${name} PRIVATE capdrv_static PkgConfig::CMOCKA ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
  set_tests_properties(${name} PROPERTIES LABELS unit SKIP_RETURN_CODE 77
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endfunction()
