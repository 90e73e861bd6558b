# Runs at install time (cmake --install, and CPack's staging install): copies
# deploy/systemd/ksight.service with the ksight path of every Exec*= line set
# to where this install puts the binary, so the unit of a /usr/local install
# runs /usr/local/sbin/ksight and the package's runs /usr/sbin/ksight.
# The source unit stays a valid unit (for /usr/local) that systemd-analyze can
# check; nothing in it is a placeholder.
#   KSIGHT_UNIT_SOURCE   the unit in the source tree    (both set by
#   KSIGHT_UNIT_STAGING  a build directory to write into  cmake/Package.cmake)
# Units go where systemd looks for them: /lib/systemd/system for the /usr
# prefix (Debian 12's place for packaged units), <prefix>/lib/systemd/system
# otherwise (systemd also reads /usr/local/lib/systemd/system).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(unit_dir "/lib/systemd/system")
else()
  set(unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
set(sbin_dir "${CMAKE_INSTALL_PREFIX}/sbin")

file(READ "${KSIGHT_UNIT_SOURCE}" unit)
string(REGEX MATCHALL "\n(Exec[A-Za-z]*=[-@:+!]*)[^ \n]*/ksight" exec_lines "\n${unit}")
if(NOT exec_lines)
  message(FATAL_ERROR "${KSIGHT_UNIT_SOURCE}: no Exec*= line runs .../ksight; cmake/InstallUnit.cmake cannot set its path")
endif()
string(REGEX REPLACE "\n(Exec[A-Za-z]*=[-@:+!]*)[^ \n]*/ksight" "\n\\1${sbin_dir}/ksight" unit "\n${unit}")
string(SUBSTRING "${unit}" 1 -1 unit)

# Written next to the build's other generated files, then installed like any
# file so the install manifest lists it and DESTDIR applies.
set(configured "${KSIGHT_UNIT_STAGING}/ksight.service")
file(WRITE "${configured}" "${unit}")
file(INSTALL "${configured}" DESTINATION "${unit_dir}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
