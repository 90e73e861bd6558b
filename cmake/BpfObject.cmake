# bpf_skeleton(NAME [SOURCE]): compiles bpf/NAME.bpf.c (or SOURCE) with clang for the BPF target
# and turns the object into NAME.skel.h with bpftool. The object is CO-RE: it is
# compiled against the checked-in vmlinux.h of the target architecture, never the
# build host's kernel headers, so one binary runs on any kernel with BTF.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
  set(KSIGHT_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(KSIGHT_BPF_ARCH arm64)
else()
  message(FATAL_ERROR "no vmlinux.h for ${CMAKE_SYSTEM_PROCESSOR}: run scripts/gen-vmlinux on such a machine")
endif()
set(KSIGHT_VMLINUX_DIR ${CMAKE_SOURCE_DIR}/bpf/vmlinux/${KSIGHT_BPF_ARCH})
if(NOT EXISTS ${KSIGHT_VMLINUX_DIR}/vmlinux.h)
  message(FATAL_ERROR "${KSIGHT_VMLINUX_DIR}/vmlinux.h is missing: run scripts/gen-vmlinux")
endif()

set(KSIGHT_SKEL_DIR ${CMAKE_BINARY_DIR}/skel)
file(MAKE_DIRECTORY ${KSIGHT_SKEL_DIR})

# An optional second argument names the source when it lives outside bpf/
# (the bench-only generator, bench/burst.bpf.c).
function(bpf_skeleton name)
  if(ARGC GREATER 1)
    set(src ${ARGV1})
  else()
    set(src ${CMAKE_SOURCE_DIR}/bpf/${name}.bpf.c)
  endif()
  set(obj ${KSIGHT_SKEL_DIR}/${name}.bpf.o)
  set(skel ${KSIGHT_SKEL_DIR}/${name}.skel.h)
  file(GLOB bpf_headers ${CMAKE_SOURCE_DIR}/bpf/include/*.h ${CMAKE_SOURCE_DIR}/include/ksight/abi/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -target bpf -g -O2 -Wall -Werror -D__TARGET_ARCH_${KSIGHT_BPF_ARCH}
            -I${KSIGHT_VMLINUX_DIR} -I${CMAKE_SOURCE_DIR}/bpf/include -I${CMAKE_SOURCE_DIR}/include
            -c ${src} -o ${obj}
    DEPENDS ${src} ${bpf_headers}
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel DEPENDS ${skel})
  set_property(GLOBAL APPEND PROPERTY KSIGHT_SKELETONS ${name}_skel)
endfunction()
