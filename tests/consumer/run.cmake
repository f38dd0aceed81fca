# ctest driver: builds and runs tests/consumer in MODE (find_package: install fluxcap
# to a scratch prefix first; add_subdirectory: embed the source tree).
set(work ${BINARY_DIR}/consumer_${MODE})
file(REMOVE_RECURSE ${work})
set(args -DFLUXCAP_CONSUMER_MODE=${MODE} -DFLUXCAP_SOURCE_DIR=${SOURCE_DIR})
if(MODE STREQUAL "find_package")
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${work}/fluxcap
                  -DFLUXCAP_BUILD_TESTS=OFF -DFLUXCAP_BUILD_EXAMPLES=OFF
                  -DCMAKE_INSTALL_PREFIX=${work}/prefix COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${work}/fluxcap COMMAND_ERROR_IS_FATAL ANY)
  list(APPEND args -DCMAKE_PREFIX_PATH=${work}/prefix)
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${work}/build ${args}
                COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${work}/build COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${work}/build/consumer COMMAND_ERROR_IS_FATAL ANY)
