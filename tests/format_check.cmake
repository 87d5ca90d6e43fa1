# Fails when a C++ file of ours is not clang-formatted (.clang-format at the top level).
file(GLOB_RECURSE files
  ${SOURCE_DIR}/common/*.h ${SOURCE_DIR}/common/*.cc
  ${SOURCE_DIR}/detector/*.h ${SOURCE_DIR}/detector/*.cc
  ${SOURCE_DIR}/policy/*.h ${SOURCE_DIR}/policy/*.cc
  ${SOURCE_DIR}/plugin/*.h ${SOURCE_DIR}/plugin/*.cc
  ${SOURCE_DIR}/tests/*.h ${SOURCE_DIR}/tests/*.cc
  ${SOURCE_DIR}/examples/*.h ${SOURCE_DIR}/examples/*.cc)
execute_process(COMMAND ${CLANG_FORMAT} --dry-run --Werror ${files}
  RESULT_VARIABLE result ERROR_VARIABLE errors)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "not clang-formatted (run scripts/format):\n${errors}")
endif()
