# Warnings belong to our targets, never to consumers of the installed package.
function(o11y_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wshadow
                                           -Wsign-conversion -Wnon-virtual-dtor -Wold-style-cast)
  # GCC 12 at -O2/-O3 reports -Wrestrict inside its own <string> for plain concatenations
  # such as "k" + std::to_string(i) (GCC bug 105651, fixed in 13): a false positive.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  # Names reserved to the implementation, in our declarations only (clang-tidy's check for them
  # costs a third of its run: .clang-tidy).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    target_compile_options(${target} PRIVATE -Wreserved-identifier)
  endif()
  if(O11Y_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
