# Runs one capdrv-nvme command and checks its output (ctest helper).
#
#   cmake -P nvme_check.cmake -- <exe> <args...> EXPECT <regex>... [SKIP_CODE <n>]
#
# Passes when the command exits 0 and every regex matches its standard
# output (each on its own; a regex may span lines). Exit status <n> after
# SKIP_CODE is passed through (ctest's SKIP_RETURN_CODE). Prints the output
# on failure.
cmake_minimum_required(VERSION 3.20)
set(cmd "")
set(regexes "")
set(skip_code "")
set(mode cmd)
set(seen_dashes FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE 1 ${last})
  set(a "${CMAKE_ARGV${i}}")
  if(NOT seen_dashes)
    if(a STREQUAL "--")
      set(seen_dashes TRUE)
    endif()
  elseif(a STREQUAL "EXPECT")
    set(mode expect)
  elseif(a STREQUAL "SKIP_CODE")
    set(mode skip)
  elseif(mode STREQUAL "cmd")
    list(APPEND cmd "${a}")
  elseif(mode STREQUAL "expect")
    list(APPEND regexes "${a}")
  else()
    set(skip_code "${a}")
  endif()
endforeach()
if(NOT cmd OR NOT regexes)
  message(FATAL_ERROR "usage: cmake -P nvme_check.cmake -- <exe> <args...> EXPECT <regex>...")
endif()
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 120)
if(skip_code AND rc STREQUAL skip_code)
  message("${out}${err}")
  # cmake -P cannot choose its exit status; ctest's SKIP_REGULAR_EXPRESSION
  # looks for this line instead.
  message("NVME-CHECK-SKIP: exit ${rc}")
  return()
endif()
set(bad "")
if(NOT rc STREQUAL "0")
  set(bad "exit status ${rc}")
endif()
foreach(re IN LISTS regexes)
  if(NOT out MATCHES "${re}")
    string(APPEND bad "\n  output does not match: ${re}")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "${cmd}: ${bad}\n--- stdout ---\n${out}--- stderr ---\n${err}")
endif()
message("${out}")
