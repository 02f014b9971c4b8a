# fcgi2 (libfcgi) as a static library for the cmake-js build; CMakeLists.txt does include(ext/fcgi2.cmake).
# Sources and include dirs must match ext/fcgi2.gyp (see ext/UPSTREAM.md).
enable_language(C)

add_library(fcgi2 STATIC
  ${CMAKE_CURRENT_LIST_DIR}/fcgi2/libfcgi/fcgiapp.c
  ${CMAKE_CURRENT_LIST_DIR}/fcgi2/libfcgi/os_unix.c
)
target_include_directories(fcgi2 PUBLIC
  ${CMAKE_CURRENT_LIST_DIR}/fcgi2/include
  ${CMAKE_CURRENT_LIST_DIR}/config
)
# Vendored code: its warnings are upstream's, not ours to fix.
target_compile_options(fcgi2 PRIVATE -w)
# PIC: the archive is linked into a shared object (the .node). Hidden
# visibility: the symbols are linked statically and need not be exported, and
# a libfcgi.so loaded elsewhere in the process cannot interpose on them.
set_target_properties(fcgi2 PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  C_VISIBILITY_PRESET hidden
)
