# FindFDT: libfdt (Debian's libfdt-dev ships no pkg-config file).
# Defines FDT_FOUND and the imported target FDT::fdt.
find_path(FDT_INCLUDE_DIR NAMES libfdt.h)
# Prefer the shared object (libfdt1); fall back to the static archive.
find_library(FDT_LIBRARY NAMES fdt libfdt.so.1 libfdt.a)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(FDT REQUIRED_VARS FDT_LIBRARY FDT_INCLUDE_DIR)
if(FDT_FOUND AND NOT TARGET FDT::fdt)
  add_library(FDT::fdt UNKNOWN IMPORTED)
  set_target_properties(FDT::fdt PROPERTIES
    IMPORTED_LOCATION "${FDT_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${FDT_INCLUDE_DIR}")
endif()
mark_as_advanced(FDT_INCLUDE_DIR FDT_LIBRARY)
