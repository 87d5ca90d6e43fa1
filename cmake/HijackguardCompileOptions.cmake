# Compile options as INTERFACE targets, linked PRIVATE into our own targets so they never leak
# into generated code or third-party headers.
#   hijackguard::warnings   the warning set (and -Werror when HIJACKGUARD_WERROR is ON)
#   hijackguard::sanitizers ASan + UBSan when HIJACKGUARD_SANITIZE is ON (empty otherwise)

add_library(hijackguard_warnings INTERFACE)
add_library(hijackguard::warnings ALIAS hijackguard_warnings)
target_compile_options(hijackguard_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
  -Wformat=2 -Wcast-qual -Wundef)
if(HIJACKGUARD_WERROR)
  target_compile_options(hijackguard_warnings INTERFACE -Werror)
endif()
if(HIJACKGUARD_THREAD_SAFETY)
  # ABSL_GUARDED_BY and friends on absl::Mutex: a member touched without its
  # lock, or a function called without the lock it requires, fails the build.
  target_compile_options(hijackguard_warnings INTERFACE -Wthread-safety)
endif()

add_library(hijackguard_sanitizers INTERFACE)
add_library(hijackguard::sanitizers ALIAS hijackguard_sanitizers)
if(HIJACKGUARD_FUZZ)
  # Coverage instrumentation for libFuzzer everywhere; fuzz targets add
  # -fsanitize=fuzzer at link time.
  set(_hg_san -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
              -fno-sanitize-recover=all)
  target_compile_options(hijackguard_sanitizers INTERFACE ${_hg_san})
  target_link_options(hijackguard_sanitizers INTERFACE -fsanitize=address,undefined)
elseif(HIJACKGUARD_SANITIZE)
  set(_hg_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_compile_options(hijackguard_sanitizers INTERFACE ${_hg_san})
  target_link_options(hijackguard_sanitizers INTERFACE ${_hg_san})
endif()

# hijackguard_target(<target>): the options every target of ours gets.
function(hijackguard_target target)
  target_link_libraries(${target} PRIVATE hijackguard::warnings hijackguard::sanitizers)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()
