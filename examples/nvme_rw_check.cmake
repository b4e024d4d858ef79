# capdrv-nvme write then read through a file-backed namespace (ctest helper):
#   cmake -DEXE=<capdrv-nvme> -DDIR=<scratch dir> -P nvme_rw_check.cmake
# Writes 8 blocks from a data file at LBA 8 of a namespace backed by
# DIR/nvme-rw.img (one process), reads them back in another process from
# the same image into a second file, and compares the two files byte for
# byte. Prints NVME-CHECK-SKIP when io_uring is unavailable (exit 77).
cmake_minimum_required(VERSION 3.20)
set(img "${DIR}/nvme-rw.img")
set(in "${DIR}/nvme-rw.in")
set(out "${DIR}/nvme-rw.out")
file(REMOVE "${img}" "${out}")
string(REPEAT "capdrv-nvme rw check, 64 bytes of text per line, repeated......\n" 64 data)
file(WRITE "${in}" "${data}")
foreach(step write read)
  set(f "${in}")
  if(step STREQUAL "read")
    set(f "${out}")
  endif()
  execute_process(COMMAND "${EXE}" ${step} --file "${img}" --start-block 8 --block-count 7
                          --data "${f}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 120)
  if(rc STREQUAL "77")
    message("NVME-CHECK-SKIP: ${o}")
    return()
  endif()
  if(NOT rc STREQUAL "0" OR NOT o MATCHES "${step}: Success")
    message(FATAL_ERROR "${step}: exit ${rc}\n${o}${e}")
  endif()
endforeach()
execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${in}" "${out}" RESULT_VARIABLE rc)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "read back ${out} differs from written ${in}")
endif()
message("wrote and read back 8 blocks through ${img}: identical")
