# The freestanding-shim check (issue #7, ctest -L port): tools/port-check
# compiles the portable kernel shim (the sources of capdrv_shim_obj) with
# -ffreestanding -fno-builtin -nostdlib -nostdinc for x86_64, aarch64 and
# riscv64, links it with ld -r and requires its undefined symbols to be
# exactly the environment (kernel-shim/include/capdrv_shim/env.h) plus
# kernel-shim/port/allowed-undefined.txt. The cross compilers come from
# Debian (gcc-aarch64-linux-gnu, gcc-riscv64-linux-gnu: tools/deps.txt); a
# test whose compiler is missing is skipped (exit 77), never passed.
#
# Negative tests show the check can fail: a libc call, a hosted header, and
# an environment function the shim does not use must each be rejected.

set(_port_check "${PROJECT_SOURCE_DIR}/tools/port-check")
set(_port_work "${CMAKE_BINARY_DIR}/port-check")

# The shim is what capdrv_shim_obj compiles (absolute paths for the script).
get_target_property(_port_dir capdrv_shim_obj SOURCE_DIR)
get_target_property(_port_rel capdrv_shim_obj SOURCES)
set(_port_sources "")
foreach(_s IN LISTS _port_rel)
  cmake_path(ABSOLUTE_PATH _s BASE_DIRECTORY "${_port_dir}" OUTPUT_VARIABLE _abs)
  list(APPEND _port_sources "${_abs}")
endforeach()

set(_port_common "--fdt-include" "${FDT_INCLUDE_DIR}")

foreach(_arch x86_64 aarch64 riscv64)
  add_test(NAME port.${_arch}
    COMMAND "${_port_check}" --arch ${_arch} --work "${_port_work}/${_arch}"
            ${_port_common} ${_port_sources})
endforeach()

# Negative tests, on x86_64 (the CI machine's own compiler).
add_test(NAME port.reject-libc-call
  COMMAND "${_port_check}" --arch x86_64 --work "${_port_work}/reject-libc-call"
          ${_port_common} --extra "${PROJECT_SOURCE_DIR}/tests/port/calls_libc.c"
          --expect-unexpected strlen ${_port_sources})
add_test(NAME port.reject-hosted-header
  COMMAND "${_port_check}" --arch x86_64 --work "${_port_work}/reject-hosted-header"
          ${_port_common} --extra "${PROJECT_SOURCE_DIR}/tests/port/includes_hosted.c"
          --expect-header-error ${_port_sources})

# env.h plus one declaration nothing calls: the check must report it, which
# shows the environment set really is read from the header.
set(_port_env "${PROJECT_SOURCE_DIR}/kernel-shim/include/capdrv_shim/env.h")
file(READ "${_port_env}" _port_env_text)
string(APPEND _port_env_text "
/* Added by cmake/CapdrvPort.cmake for port.reject-unused-env. */
void capdrv_env_port_check_unused(struct capdrv_env *env);
")
# Written only when the text changes (file(CONFIGURE) would expand the
# Doxygen @...@ spans).
set(_port_env_old "")
if(EXISTS "${_port_work}/env_unused.h")
  file(READ "${_port_work}/env_unused.h" _port_env_old)
endif()
if(NOT _port_env_old STREQUAL _port_env_text)
  file(WRITE "${_port_work}/env_unused.h" "${_port_env_text}")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_port_env}")
add_test(NAME port.reject-unused-env
  COMMAND "${_port_check}" --arch x86_64 --work "${_port_work}/reject-unused-env"
          ${_port_common} --env-header "${_port_work}/env_unused.h"
          --expect-missing capdrv_env_port_check_unused ${_port_sources})

set_tests_properties(port.x86_64 port.aarch64 port.riscv64
  port.reject-libc-call port.reject-hosted-header port.reject-unused-env
  PROPERTIES LABELS port SKIP_RETURN_CODE 77 TIMEOUT 600)
