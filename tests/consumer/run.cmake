# ctest driver of the consumer tests: cmake -DMODE=... -DSOURCE_DIR=... -DBINARY_DIR=...
#   -DVERSION=x.y.z -DCXX=compiler -DHAVE_YAML=ON|OFF -DHAVE_PCRE2=ON|OFF -P run.cmake
# MODE:
#   find_package         `cmake -B b` with no flags, `cmake --install b --prefix P` (no
#                        build), nothing but the library installed; consumers of the
#                        core (and of fluxcap::yaml when there); find_package refuses
#                        other minor versions and unknown components, says why
#   find_package_noyaml  no-flag configure with doctest, simdjson and yaml-cpp hidden
#                        (from every configure): installs without fluxcap::yaml, the
#                        core works, COMPONENTS yaml is refused with a reason
#   add_subdirectory     the source tree embedded (with fluxcap::yaml when there)
#   fetchcontent         FetchContent from the local tree, yaml-cpp hidden
#   pkgconfig            `c++ -std=c++20 $(pkg-config --cflags fluxcap)`
cmake_minimum_required(VERSION 3.21)
set(work ${BINARY_DIR}/consumer_${MODE})
file(REMOVE_RECURSE ${work})
file(MAKE_DIRECTORY ${work})
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _ "${VERSION}")
set(major ${CMAKE_MATCH_1})
set(minor ${CMAKE_MATCH_2})
math(EXPR next_minor "${minor} + 1")
set(generator_args)
if(GENERATOR)
  set(generator_args -G "${GENERATOR}")
endif()
set(no_yaml -DCMAKE_DISABLE_FIND_PACKAGE_yaml-cpp=ON)
# No pkg-config, so no libpcre2-8 (fluxcap::sigma_pcre2 finds it through pkg-config).
set(no_pcre2 -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON)

function(run)  # run(<args>...): a command that must succeed
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()

# install(<dir> <configure args>...): configure fluxcap, install it (no build) into <dir>.
function(install_fluxcap prefix)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${work}/fluxcap ${generator_args} ${ARGN})
  run(${CMAKE_COMMAND} --install ${work}/fluxcap --prefix ${prefix})
  foreach(f include/fluxcap/fluxcap.hpp include/fluxcap/detail/abi_macros.hpp
            share/cmake/fluxcap/fluxcap-config.cmake share/cmake/fluxcap/fluxcap-config-version.cmake
            share/cmake/fluxcap/fluxcap-targets.cmake share/pkgconfig/fluxcap.pc)
    if(NOT EXISTS ${prefix}/${f})
      message(FATAL_ERROR "not installed: ${f}")
    endif()
  endforeach()
  if(EXISTS ${prefix}/bin)
    message(FATAL_ERROR "an install without a build installed ${prefix}/bin (the tool?)")
  endif()
endfunction()

# consumer(<name> <configure args>...): configure, build and run tests/consumer.
function(consumer name)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${work}/${name} ${generator_args}
      -DCMAKE_CXX_COMPILER=${CXX} -DFLUXCAP_SOURCE_DIR=${SOURCE_DIR} ${ARGN})
  run(${CMAKE_COMMAND} --build ${work}/${name})
  run(${work}/${name}/consumer)
  if(EXISTS ${work}/${name}/consumer_yaml)
    run(${work}/${name}/consumer_yaml)
  endif()
  if(EXISTS ${work}/${name}/consumer_pcre2)
    run(${work}/${name}/consumer_pcre2)
  endif()
endfunction()

# probe(<expect: found|notfound|error> <regex the output must match> <find_package args>
#       [-- <configure args>]): find_package(fluxcap <args>) in an empty project.
set(probe_count 0)
function(probe expect regex)
  math(EXPR n "${probe_count} + 1")
  set(probe_count ${n} PARENT_SCOPE)
  list(FIND ARGN "--" sep)
  set(configure_args)
  set(find_args ${ARGN})
  if(sep GREATER -1)
    math(EXPR after "${sep} + 1")
    list(SUBLIST ARGN ${after} -1 configure_args)
    list(SUBLIST ARGN 0 ${sep} find_args)
  endif()
  set(dir ${work}/probe${n})
  string(REPLACE ";" " " find_text "${find_args}")
  # No language is quicker; yaml-cpp's package (lib/<arch>/cmake) is searched only with one.
  set(language NONE)
  if(find_args MATCHES "yaml|pcre2")
    set(language CXX)
  endif()
  file(WRITE ${dir}/CMakeLists.txt
       "cmake_minimum_required(VERSION 3.21)\nproject(probe ${language})\n"
       "find_package(fluxcap ${find_text})\n"
       "message(STATUS \"probe: found=\${fluxcap_FOUND} version=\${fluxcap_VERSION} yaml=\${fluxcap_yaml_FOUND}\")\n")
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${dir} -B ${dir}/b -DCMAKE_CXX_COMPILER=${CXX}
                          ${configure_args}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  set(ok FALSE)
  if(expect STREQUAL "error")
    if(NOT rc EQUAL 0)
      set(ok TRUE)
    endif()
  elseif(rc EQUAL 0)
    if(expect STREQUAL "found" AND out MATCHES "probe: found=1 ")
      set(ok TRUE)
    elseif(expect STREQUAL "notfound" AND out MATCHES "probe: found=0 ")
      set(ok TRUE)
    endif()
  endif()
  if(NOT ok OR NOT out MATCHES "${regex}")
    message(FATAL_ERROR "find_package(fluxcap ${find_text}) ${configure_args}: expected ${expect} "
                        "and output matching '${regex}', got (exit ${rc}):\n${out}")
  endif()
  message(STATUS "ok: find_package(fluxcap ${find_text}) ${configure_args}: ${expect}")
endfunction()

if(MODE STREQUAL "find_package")
  set(prefix ${work}/prefix)
  # Exactly the README's two commands: no flag, no build.
  install_fluxcap(${prefix})
  set(at -DCMAKE_PREFIX_PATH=${prefix})
  consumer(core ${at} -DFLUXCAP_CONSUMER_VERSION=${major}.${minor})
  probe(found "version=${VERSION} " ${major}.${minor} CONFIG -- ${at})
  probe(found "version=${VERSION} " ${VERSION} CONFIG REQUIRED -- ${at})
  probe(notfound "version: ${VERSION}" ${major}.${next_minor} CONFIG -- ${at})
  if(minor GREATER 0)
    math(EXPR previous_minor "${minor} - 1")
    probe(notfound "version: ${VERSION}" ${major}.${previous_minor} CONFIG -- ${at})
    probe(error "version: ${VERSION}" ${major}.${previous_minor} CONFIG REQUIRED -- ${at})
  endif()
  probe(error "component 'sigmaa': no such component" CONFIG REQUIRED COMPONENTS sigmaa -- ${at})
  probe(found "found=1" CONFIG COMPONENTS core -- ${at})
  if(HAVE_YAML)
    consumer(yaml ${at} -DFLUXCAP_CONSUMER_VERSION=${major}.${minor} -DFLUXCAP_CONSUMER_YAML=ON)
    probe(found "yaml=TRUE" CONFIG REQUIRED COMPONENTS yaml -- ${at})
    # The install has fluxcap::yaml, the machine no yaml-cpp: the core is found, yaml
    # is refused with the reason.
    probe(error "component 'yaml': it needs yaml-cpp, which was not found"
          CONFIG REQUIRED COMPONENTS yaml -- ${at} ${no_yaml})
    probe(found "optional component 'yaml' not available: it needs yaml-cpp"
          CONFIG OPTIONAL_COMPONENTS yaml -- ${at} ${no_yaml})
    consumer(core_without_yaml_cpp ${at} ${no_yaml})
  endif()
  if(HAVE_PCRE2)
    consumer(pcre2 ${at} -DFLUXCAP_CONSUMER_VERSION=${major}.${minor} -DFLUXCAP_CONSUMER_PCRE2=ON)
    probe(found "found=1" CONFIG REQUIRED COMPONENTS pcre2 -- ${at})
    # The install has fluxcap::sigma_pcre2, the machine no pkg-config: pcre2 is refused
    # with the reason, the core still found.
    probe(error "component 'pcre2': it needs libpcre2-8 through pkg-config"
          CONFIG REQUIRED COMPONENTS pcre2 -- ${at} ${no_pcre2})
    probe(found "found=1" CONFIG OPTIONAL_COMPONENTS pcre2 -- ${at} ${no_pcre2})
    consumer(core_without_pkg_config ${at} ${no_pcre2})
  endif()
elseif(MODE STREQUAL "find_package_noyaml")
  set(prefix ${work}/prefix)
  # A machine with none of the optional packages: the default configure (tests and
  # examples ON) still succeeds, skipping what needs them, and installs the library.
  install_fluxcap(${prefix} ${no_yaml} -DCMAKE_DISABLE_FIND_PACKAGE_doctest=ON
                  -DCMAKE_DISABLE_FIND_PACKAGE_simdjson=ON)
  if(EXISTS ${prefix}/share/cmake/fluxcap/fluxcap-yaml-targets.cmake)
    message(FATAL_ERROR "fluxcap::yaml installed although yaml-cpp was hidden")
  endif()
  set(at -DCMAKE_PREFIX_PATH=${prefix})
  consumer(core ${at} ${no_yaml} -DFLUXCAP_CONSUMER_VERSION=${major}.${minor})
  probe(error "component 'yaml': fluxcap was installed without fluxcap::yaml"
        CONFIG REQUIRED COMPONENTS yaml -- ${at})
  probe(found "yaml=FALSE" CONFIG OPTIONAL_COMPONENTS yaml -- ${at})
elseif(MODE STREQUAL "add_subdirectory")
  consumer(build -DFLUXCAP_CONSUMER_MODE=add_subdirectory -DFLUXCAP_CONSUMER_YAML=${HAVE_YAML}
           -DFLUXCAP_CONSUMER_PCRE2=${HAVE_PCRE2})
elseif(MODE STREQUAL "fetchcontent")
  consumer(build -DFLUXCAP_CONSUMER_MODE=fetchcontent -DFETCHCONTENT_SOURCE_DIR_FLUXCAP=${SOURCE_DIR}
           ${no_yaml})
elseif(MODE STREQUAL "pkgconfig")
  find_program(PKG_CONFIG pkg-config)
  if(NOT PKG_CONFIG)
    message(FATAL_ERROR "pkg-config not found (apt-get install pkg-config)")
  endif()
  set(prefix ${work}/prefix)
  install_fluxcap(${prefix} -DFLUXCAP_BUILD_TESTS=OFF -DFLUXCAP_BUILD_EXAMPLES=OFF)
  set(ENV{PKG_CONFIG_PATH} ${prefix}/share/pkgconfig)
  run(${PKG_CONFIG} --exact-version=${VERSION} fluxcap)
  execute_process(COMMAND ${PKG_CONFIG} --cflags fluxcap OUTPUT_VARIABLE cflags
                  OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  if(NOT cflags STREQUAL "-I${prefix}/share/pkgconfig/../../include")
    message(FATAL_ERROR "pkg-config --cflags fluxcap: ${cflags}")
  endif()
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  run(${CXX} -std=c++20 ${cflags} ${SOURCE_DIR}/tests/consumer/main.cpp -o ${work}/consumer)
  run(${work}/consumer)
  if(HAVE_YAML)
    execute_process(COMMAND ${PKG_CONFIG} --cflags --libs fluxcap-yaml OUTPUT_VARIABLE flags
                    OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
    separate_arguments(flags UNIX_COMMAND "${flags}")
    run(${CXX} -std=c++20 ${SOURCE_DIR}/tests/consumer/yaml_main.cpp ${flags}
        -o ${work}/consumer_yaml)
    run(${work}/consumer_yaml)
  endif()
  if(HAVE_PCRE2)
    run(${PKG_CONFIG} --exact-version=${VERSION} fluxcap-pcre2)
    execute_process(COMMAND ${PKG_CONFIG} --cflags --libs fluxcap-pcre2 OUTPUT_VARIABLE flags
                    OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
    separate_arguments(flags UNIX_COMMAND "${flags}")
    run(${CXX} -std=c++20 ${SOURCE_DIR}/tests/consumer/pcre2_main.cpp ${flags}
        -o ${work}/consumer_pcre2)
    run(${work}/consumer_pcre2)
  endif()
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()
