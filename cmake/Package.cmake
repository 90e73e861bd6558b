# What `cmake --install` puts beside the binary, and the Debian package CPack
# makes of it (make deb, or `cpack -G DEB` in the build directory):
#   <prefix>/sbin/ksight                       (install(TARGETS) in CMakeLists.txt)
#   /lib/systemd/system/ksight.service         (<prefix>/lib/... unless the prefix is /usr)
#   /etc/ksight/ksight.yaml                    the default configuration; a conffile in the .deb
#   <prefix>/share/doc/ksight/                 README.md, copyright, changelog.Debian.gz
#   <prefix>/share/man/man8/ksight.8.gz        docs/ksight.8
# The package is built with the /usr prefix; the maintainer scripts, the
# conffiles list and the copyright file are in deploy/debian.

# The unit, with the Exec*= path of this install (cmake/InstallUnit.cmake).
install(CODE "set(KSIGHT_UNIT_SOURCE \"${CMAKE_SOURCE_DIR}/deploy/systemd/ksight.service\")
set(KSIGHT_UNIT_STAGING \"${CMAKE_BINARY_DIR}/generated\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/cmake/InstallUnit.cmake)

# The configuration sits where the unit's --config looks, whatever the prefix.
# A plain `cmake --install` never overwrites one an operator edited; in the
# package dpkg guards it instead (conffile: kept across upgrades, or asked).
install(CODE "
if(EXISTS \"\$ENV{DESTDIR}/etc/ksight/ksight.yaml\")
  message(STATUS \"Keeping: \$ENV{DESTDIR}/etc/ksight/ksight.yaml\")
else()
  file(INSTALL \"${CMAKE_SOURCE_DIR}/deploy/ksight.yaml\" DESTINATION /etc/ksight
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()")

# Docs as Debian lays them out: the copyright file, the changelog and the
# manual page compressed with gzip -9n (no name or timestamp in the header:
# reproducible).
set(KSIGHT_DEB_RELEASE 1)
set(KSIGHT_DEB_VERSION "${PROJECT_VERSION}-${KSIGHT_DEB_RELEASE}")
string(TIMESTAMP KSIGHT_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_SOURCE_DIR}/deploy/debian/changelog.in
               ${CMAKE_BINARY_DIR}/generated/changelog.Debian @ONLY)
find_program(GZIP_EXECUTABLE gzip REQUIRED)
execute_process(COMMAND ${GZIP_EXECUTABLE} -9nf ${CMAKE_BINARY_DIR}/generated/changelog.Debian
                COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${GZIP_EXECUTABLE} -9nc ${CMAKE_SOURCE_DIR}/docs/ksight.8
                OUTPUT_FILE ${CMAKE_BINARY_DIR}/generated/ksight.8.gz COMMAND_ERROR_IS_FATAL ANY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/ksight.8)
install(FILES ${CMAKE_BINARY_DIR}/generated/ksight.8.gz DESTINATION share/man/man8)
install(FILES deploy/debian/lintian-overrides DESTINATION share/lintian/overrides RENAME ksight)
install(FILES README.md deploy/debian/copyright
              ${CMAKE_BINARY_DIR}/generated/changelog.Debian.gz
        DESTINATION share/doc/ksight)

# cpack (and `make install`) would otherwise first build every target of the
# tree, tests and benchmarks too, outside the build lock; the package needs
# the binary only, which `make deb` builds before calling cpack.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ksight)
set(CPACK_PACKAGE_VENDOR "ksight maintainers")
set(CPACK_PACKAGE_CONTACT "ksight maintainers <maintainers@users.noreply.h-seed-982121e7.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF observability agent")
# DESTDIR staging with the real prefix, so install scripts see /usr and the
# absolute destinations (/etc, /lib/systemd) land in the package, not the host.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # ksight_0.1.0-1_amd64.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE ${KSIGHT_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The summary above is its first line; CPack indents these and turns the
# empty line into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "ksight loads eBPF programs (process exec and exit, OOM kills, signals,
scheduler and block I/O latency, TCP retransmits, resets and round-trip
times, and more) and exports what they see as Prometheus metrics and OTLP.

This package runs it as the systemd service ksight.service, configured by
/etc/ksight/ksight.yaml. `ksight doctor` says whether the kernel allows it.")
# Depends from the binary's libraries (dpkg-shlibdeps, from dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
