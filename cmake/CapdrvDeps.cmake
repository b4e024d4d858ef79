# Every dependency is chosen, not optional (README: Dependencies).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(FDT REQUIRED)                       # grant manifests, virtio-mmio discovery
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)   # sim file I/O, eventfd waits
pkg_check_modules(PCI REQUIRED IMPORTED_TARGET libpci)       # Linux enumeration (vfio)
if(BUILD_TESTING)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)  # unit tests
endif()
find_program(DTC_EXECUTABLE dtc REQUIRED)        # manifests are DTS compiled at build time
