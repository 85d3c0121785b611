# The build's compile commands as clang-tidy can read them: the same files and flags, without the
# precompiled header GCC made (clang cannot read GCC's PCH; the header it stands for is included by
# each file anyway). Written anew on every run: nothing is kept from one run to the next.
#
#   cmake -DBUILD=build -P cmake/clang-tidy-commands.cmake   # writes build/clang-tidy/compile_commands.json
if(NOT BUILD)
  message(FATAL_ERROR "usage: cmake -DBUILD=<build directory> -P cmake/clang-tidy-commands.cmake")
endif()
file(READ "${BUILD}/compile_commands.json" commands)
string(REGEX REPLACE "-include [^ \"]*cmake_pch\\.hxx " "" commands "${commands}")
string(REPLACE "-Winvalid-pch " "" commands "${commands}")
file(WRITE "${BUILD}/clang-tidy/compile_commands.json" "${commands}")
