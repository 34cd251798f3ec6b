# lintel_layer(NAME FOLDER SOURCES... DEPS ...)
# Declares the library for one source folder. Its public include root is
# ${CMAKE_BINARY_DIR}/layers/<folder>, which holds a single symlink <folder> → the source
# folder; a library that links it (an allowed arrow) can then `#include "<folder>/x.h"`,
# and one that does not link it cannot.
function(lintel_layer name folder)
  cmake_parse_arguments(L "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(root ${CMAKE_BINARY_DIR}/layers/${folder})
  file(MAKE_DIRECTORY ${root})
  if(NOT EXISTS ${root}/${folder})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${folder} ${root}/${folder} SYMBOLIC)
  endif()
  add_library(${name} STATIC ${L_SOURCES})
  target_include_directories(${name} PUBLIC ${root})
  target_link_libraries(${name} PUBLIC ${L_DEPS} PRIVATE ${L_PRIVATE_DEPS})
endfunction()
