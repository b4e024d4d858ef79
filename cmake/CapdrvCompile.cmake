# Warnings and sanitizers, applied per target with capdrv_target_defaults().
set(CAPDRV_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wcast-align -Wformat=2 -Wvla -Wundef)
if(CAPDRV_WERROR)
  list(APPEND CAPDRV_WARNINGS -Werror)
endif()
if(CAPDRV_SANITIZE)
  add_compile_options(-fsanitize=${CAPDRV_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${CAPDRV_SANITIZE})
endif()

function(capdrv_target_defaults target)
  target_compile_options(${target} PRIVATE ${CAPDRV_WARNINGS})
endfunction()
