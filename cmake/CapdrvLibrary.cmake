# libcapdrv: one shared and one static library from the layer object
# libraries (src/ = provider library, kernel-shim/ = shim, hosted env,
# in-process transport and platforms).
set(CAPDRV_OBJECT_LIBS capdrv_core_obj capdrv_shim_obj capdrv_hosted_obj capdrv_sim_obj
  capdrv_qtest_obj capdrv_vfio_obj)
set(_objs)
foreach(o IN LISTS CAPDRV_OBJECT_LIBS)
  list(APPEND _objs $<TARGET_OBJECTS:${o}>)
endforeach()
set(CAPDRV_DEP_LIBS FDT::fdt PkgConfig::URING PkgConfig::PCI Threads::Threads)

add_library(capdrv SHARED ${_objs})
add_library(capdrv_static STATIC ${_objs})
set_target_properties(capdrv_static PROPERTIES OUTPUT_NAME capdrv)
set_target_properties(capdrv PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION 0
  LINK_DEPENDS "${PROJECT_SOURCE_DIR}/src/capdrv.map")
target_link_options(capdrv PRIVATE "-Wl,--version-script=${PROJECT_SOURCE_DIR}/src/capdrv.map"
  "-Wl,--no-undefined")
foreach(t capdrv capdrv_static)
  target_include_directories(${t} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()
target_link_libraries(capdrv PRIVATE ${CAPDRV_DEP_LIBS})
target_link_libraries(capdrv_static PUBLIC ${CAPDRV_DEP_LIBS})
add_library(capdrv::capdrv ALIAS capdrv)
add_library(capdrv::capdrv_static ALIAS capdrv_static)
