# Installation and packaging.
#
#   <prefix>/lib/libcapdrv.so{,.0,.0.1.0}   shared library (SOVERSION 0)
#   <prefix>/lib/libcapdrv.a                static library
#   <prefix>/include/capdrv/**.h            public headers (whole directory)
#   <prefix>/lib/pkgconfig/capdrv.pc        pkg-config (Libs.private for --static)
#   <prefix>/lib/cmake/capdrv/              CMake package: capdrvConfig.cmake,
#       capdrvConfigVersion.cmake (SameMajorVersion), capdrvTargets*.cmake
#       (capdrv::capdrv shared, capdrv::capdrv_static) and FindFDT.cmake,
#       which the config uses because Debian's libfdt-dev has no .pc file.
#
# Components: "runtime" (the versioned .so), "devel" (everything else) and
# "docs" (man pages, installed by cmake/CapdrvDocs.cmake when doxygen is found).
# Tested by tests/install (ctest -L install).
include(CMakePackageConfigHelpers)

set(CAPDRV_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/capdrv"
    CACHE STRING "Where the capdrv CMake package is installed (relative to the prefix)")
set(CAPDRV_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where capdrv.pc is installed (relative to the prefix)")
mark_as_advanced(CAPDRV_INSTALL_CMAKEDIR CAPDRV_INSTALL_PKGCONFIGDIR)

# Inside the build the namespaced names are ALIAS targets; the exported names
# come from EXPORT_NAME + NAMESPACE below.
set_target_properties(capdrv PROPERTIES EXPORT_NAME capdrv)
set_target_properties(capdrv_static PROPERTIES EXPORT_NAME capdrv_static)

install(TARGETS capdrv capdrv_static EXPORT capdrvTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    COMPONENT runtime NAMELINK_COMPONENT devel
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT devel
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT runtime)
# (No INCLUDES DESTINATION: the targets already carry
# $<INSTALL_INTERFACE:include> from cmake/CapdrvLibrary.cmake.)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/capdrv"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT devel
  FILES_MATCHING PATTERN "*.h")

install(EXPORT capdrvTargets
  NAMESPACE capdrv::
  FILE capdrvTargets.cmake
  DESTINATION "${CAPDRV_INSTALL_CMAKEDIR}" COMPONENT devel)

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/capdrvConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/capdrvConfig.cmake"
  INSTALL_DESTINATION "${CAPDRV_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/capdrvConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/cmake/capdrvConfig.cmake"
  "${PROJECT_BINARY_DIR}/cmake/capdrvConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/FindFDT.cmake"
  DESTINATION "${CAPDRV_INSTALL_CMAKEDIR}" COMPONENT devel)

# capdrv.pc carries absolute paths, so it is written at install time from the
# prefix actually used: `cmake --install <build> --prefix <dir>` gets a .pc
# that points into <dir>, not into the configure-time CMAKE_INSTALL_PREFIX.
# A relative libdir/includedir is expressed through ${prefix}.
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(_capdrv_pc_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(_capdrv_pc_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()
set(_capdrv_pc_out "${PROJECT_BINARY_DIR}/pkgconfig/capdrv.pc")
install(CODE "
  set(CAPDRV_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(CAPDRV_PC_LIBDIR [==[${_capdrv_pc_LIBDIR}]==])
  set(CAPDRV_PC_INCLUDEDIR [==[${_capdrv_pc_INCLUDEDIR}]==])
  set(PROJECT_NAME [==[${PROJECT_NAME}]==])
  set(PROJECT_DESCRIPTION [==[${PROJECT_DESCRIPTION}]==])
  set(PROJECT_VERSION [==[${PROJECT_VERSION}]==])
  configure_file([==[${PROJECT_SOURCE_DIR}/cmake/capdrv.pc.in]==]
                 [==[${_capdrv_pc_out}]==] @ONLY)
" COMPONENT devel)
install(FILES "${_capdrv_pc_out}"
  DESTINATION "${CAPDRV_INSTALL_PKGCONFIGDIR}" COMPONENT devel)
