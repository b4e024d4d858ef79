# capdrv_compile_dts(<out-var> <src.dts>...): compile device-tree sources into
# .dtb files in the build tree with dtc; <out-var> receives their paths.
function(capdrv_compile_dts out_var)
  set(outs)
  foreach(src IN LISTS ARGN)
    get_filename_component(abs "${src}" ABSOLUTE)
    get_filename_component(name "${src}" NAME_WE)
    set(out "${CMAKE_CURRENT_BINARY_DIR}/${name}.dtb")
    # dtc -d writes a Makefile-style dependency file covering /include/s.
    add_custom_command(OUTPUT "${out}"
      COMMAND "${DTC_EXECUTABLE}" -q -I dts -O dtb -d "${out}.d" -o "${out}" "${abs}"
      DEPENDS "${abs}" DEPFILE "${out}.d" COMMENT "dtc ${name}.dts" VERBATIM)
    list(APPEND outs "${out}")
  endforeach()
  set(${out_var} ${outs} PARENT_SCOPE)
endfunction()
