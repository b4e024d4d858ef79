# ctest port.template-conformance: capdrv-conformance against the template
# backend (kernel-shim/template/, every sys.h call -CAPDRV_ENOSYS) must fail
# cleanly. Run as
#   cmake -DRUNNER=<capdrv-conformance> -DJUNIT=<out.xml> -P template-check.cmake
# Checks:
#  1. the exit status is 1 ("a case failed"): not 0, not 2 (usage or
#     setup error), not a signal;
#  2. every case x lane that `--list` names has exactly one result line,
#     and it is FAIL or SKIP: a template that passes a case is lying;
#  3. the summary adds up: 0 passed, failed + skipped = all, failed > 0;
#  4. the JUnit file names every case x lane once, as platform "template",
#     each with a <failure> or <skipped> element.
foreach(v RUNNER JUNIT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "template-check: -D${v}=... is required")
  endif()
endforeach()

function(fail why)
  message(FATAL_ERROR "template-check: ${why}")
endfunction()

# "id lane" for every case of `--list` (lines: id, lane, rule).
execute_process(COMMAND ${RUNNER} --platform template --lane both --list
  OUTPUT_VARIABLE list RESULT_VARIABLE rc TIMEOUT 30)
if(NOT rc STREQUAL "0")
  fail("--list exited with '${rc}'")
endif()
string(REGEX MATCHALL "\n[^ \n]+ +(brokered|direct) " rows "\n${list}")
set(want)
foreach(r IN LISTS rows)
  string(REGEX REPLACE "^\n([^ ]+) +([a-z]+) $" "\\1 \\2" r "${r}")
  list(APPEND want "${r}")
endforeach()
list(LENGTH want n_want)
if(n_want EQUAL 0)
  fail("--list named no case:\n${list}")
endif()

file(REMOVE "${JUNIT}")
execute_process(COMMAND ${RUNNER} --platform template --lane both --junit ${JUNIT}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 100)
message("${out}")
if(NOT rc STREQUAL "1")
  fail("the runner exited with '${rc}', want 1 (cases failed, nothing crashed)\n${err}")
endif()

# Result lines: "RESULT  id lane rule", RESULT at the start of a line.
string(REGEX MATCHALL "\n(PASS|FAIL|SKIP)  [^ \n]+ +(brokered|direct) " lines "\n${out}")
set(got)
foreach(l IN LISTS lines)
  string(REGEX REPLACE "^\n([A-Z]+)  ([^ ]+) +([a-z]+) $" "\\1;\\2 \\3" l "${l}")
  list(GET l 0 result)
  list(GET l 1 id)
  if(result STREQUAL "PASS")
    fail("${id} passed against the template backend")
  endif()
  list(FIND got "${id}" dup)
  if(NOT dup EQUAL -1)
    fail("${id} reported twice")
  endif()
  list(APPEND got "${id}")
endforeach()
foreach(id IN LISTS want)
  list(FIND got "${id}" at)
  if(at EQUAL -1)
    fail("no result for ${id}")
  endif()
endforeach()
list(LENGTH got n_got)
if(NOT n_got EQUAL n_want)
  fail("${n_got} results for ${n_want} listed cases")
endif()

if(NOT out MATCHES "\nconformance: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped")
  fail("no summary line")
endif()
set(pass ${CMAKE_MATCH_1})
set(fails ${CMAKE_MATCH_2})
set(skips ${CMAKE_MATCH_3})
math(EXPR total "${fails} + ${skips}")
if(NOT pass EQUAL 0 OR NOT total EQUAL n_want OR fails EQUAL 0)
  fail("summary ${pass} passed, ${fails} failed, ${skips} skipped for ${n_want} cases")
endif()

if(NOT EXISTS "${JUNIT}")
  fail("no JUnit file ${JUNIT}")
endif()
file(READ "${JUNIT}" xml)
if(NOT xml MATCHES "<testsuite name=\"capdrv-conformance.template\" tests=\"${n_want}\" failures=\"${fails}\" skipped=\"${skips}\">")
  fail("JUnit testsuite header does not say ${n_want} tests, ${fails} failures, ${skips} skipped")
endif()
string(REGEX MATCHALL "<testcase classname=\"template\\.(brokered|direct)\" name=\"[^\"]+\"" cases "${xml}")
set(junit)
foreach(tc IN LISTS cases)
  string(REGEX REPLACE "^<testcase classname=\"template\\.([a-z]+)\" name=\"([^\"]+)\"$" "\\2 \\1" tc "${tc}")
  list(APPEND junit "${tc}")
endforeach()
foreach(id IN LISTS want)
  list(FIND junit "${id}" at)
  if(at EQUAL -1)
    fail("JUnit lacks ${id}")
  endif()
endforeach()
list(LENGTH junit n_junit)
string(REGEX MATCHALL "<testcase " all_cases "${xml}")
string(REGEX MATCHALL "\n    <(failure|skipped) message=" verdicts "${xml}")
list(LENGTH all_cases n_all)
list(LENGTH verdicts n_verdicts)
if(NOT n_junit EQUAL n_want OR NOT n_all EQUAL n_want OR NOT n_verdicts EQUAL n_want)
  fail("JUnit: ${n_all} test cases (${n_junit} of platform template), ${n_verdicts} failed or skipped; want ${n_want} each")
endif()
message("template-check: ${n_want} case x lane runs, 0 passed, ${fails} failed, ${skips} skipped; JUnit agrees")
