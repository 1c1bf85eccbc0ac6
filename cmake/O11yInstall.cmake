include(CMakePackageConfigHelpers)

install(TARGETS o11y EXPORT o11yTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/o11y DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(O11Y_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/o11y)
install(EXPORT o11yTargets NAMESPACE o11y:: DESTINATION ${O11Y_CMAKE_DIR})
# Each adapter in an export set of its own, loaded when its library is found.
foreach(adapter ${O11Y_ADAPTERS})
  install(TARGETS o11y_${adapter} EXPORT o11y_${adapter}Targets)
  install(EXPORT o11y_${adapter}Targets NAMESPACE o11y:: DESTINATION ${O11Y_CMAKE_DIR})
endforeach()
install(TARGETS o11y_prometheus EXPORT o11yPrometheusTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT o11yPrometheusTargets NAMESPACE o11y:: DESTINATION ${O11Y_CMAKE_DIR})
configure_package_config_file(cmake/o11yConfig.cmake.in
  ${PROJECT_BINARY_DIR}/o11yConfig.cmake INSTALL_DESTINATION ${O11Y_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/o11yConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/o11yConfig.cmake ${PROJECT_BINARY_DIR}/o11yConfigVersion.cmake
        DESTINATION ${O11Y_CMAKE_DIR})

# pkg-config. The dependencies are needed to link a static libo11y (the default build), so
# there they are public: the README's plain `pkg-config --cflags --libs o11y` must link. With
# a shared libo11y they are its own business, and private.
set(O11Y_PC_DEPS "spdlog fmt zlib cpp-httplib")
# libcurl by -l, not Requires: its .pc lists the static closure (nghttp2, ssh2, ldap, ...)
# that `pkg-config --static` would demand, while the shared libcurl is what we link.
set(O11Y_PC_DEP_LIBS "-lcurl")
if(BUILD_SHARED_LIBS)
  set(O11Y_PC_REQUIRES "")
  set(O11Y_PC_REQUIRES_PRIVATE "${O11Y_PC_DEPS}")
  set(O11Y_PC_LIBS "")
  set(O11Y_PC_LIBS_PRIVATE "${O11Y_PC_DEP_LIBS}")
else()
  set(O11Y_PC_REQUIRES "${O11Y_PC_DEPS}")
  set(O11Y_PC_REQUIRES_PRIVATE "")
  set(O11Y_PC_LIBS "${O11Y_PC_DEP_LIBS}")
  set(O11Y_PC_LIBS_PRIVATE "")
endif()
# Relocatable: the prefix is found from the .pc file's own location, so `cmake --install
# --prefix X` works without reconfiguring.
file(RELATIVE_PATH O11Y_PC_UP "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
set(O11Y_PC_PREFIX "\${pcfiledir}/${O11Y_PC_UP}")
configure_file(cmake/o11y.pc.in ${PROJECT_BINARY_DIR}/o11y.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/o11y.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(O11Y_BUILD_TOOLS)
  install(TARGETS o11y_tool RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# Rules, their unit tests and the dashboard (docs/alerts.md), for `o11y stack` and operators.
install(DIRECTORY monitoring/ DESTINATION ${CMAKE_INSTALL_DATADIR}/o11y/monitoring)
