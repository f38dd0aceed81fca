# Consumer and packaging tests (included by tests/CMakeLists.txt). Each configures and
# builds small projects against an installed, embedded or packaged fluxcap; none needs
# yaml-cpp or PCRE2 (with them, fluxcap::yaml and fluxcap::sigma_pcre2 are tested too).
# See docs/packaging.md.
set(fluxcap_have_yaml OFF)
if(TARGET fluxcap::yaml)
  set(fluxcap_have_yaml ON)
endif()
set(fluxcap_have_pcre2 OFF)
if(TARGET fluxcap::sigma_pcre2)
  set(fluxcap_have_pcre2 ON)
endif()
foreach(mode find_package find_package_noyaml add_subdirectory fetchcontent pkgconfig)
  add_test(NAME consumer_${mode}
           COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DBINARY_DIR=${CMAKE_CURRENT_BINARY_DIR} -DVERSION=${PROJECT_VERSION}
                   -DCXX=${CMAKE_CXX_COMPILER} -DGENERATOR=${CMAKE_GENERATOR}
                   -DHAVE_YAML=${fluxcap_have_yaml} -DHAVE_PCRE2=${fluxcap_have_pcre2}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.cmake)
  set_tests_properties(consumer_${mode} PROPERTIES LABELS packaging TIMEOUT 300)
endforeach()

# The Debian package: built with cpack, installed with dpkg -i, consumed, removed (root only).
add_test(NAME consumer_debian_package
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/consumer/deb_test.sh ${PROJECT_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/consumer_deb ${CMAKE_CXX_COMPILER} ${PROJECT_VERSION})
set_tests_properties(consumer_debian_package PROPERTIES LABELS packaging TIMEOUT 300
                     SKIP_REGULAR_EXPRESSION "SKIPPED:" RESOURCE_LOCK fluxcap_system_packages)

# The vcpkg port and the Conan recipe: their configure/install steps and layouts
# (scripts/check_packaging.sh; vcpkg and Conan themselves are not run).
add_test(NAME check_packaging
         COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/check_packaging.sh
                 ${CMAKE_CURRENT_BINARY_DIR}/check_packaging)
set_tests_properties(check_packaging PROPERTIES LABELS packaging TIMEOUT 300
                     ENVIRONMENT "CXX=${CMAKE_CXX_COMPILER}")
