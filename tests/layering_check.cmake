# Fails when detector/, policy/ or store/ (or common/) include gRPC, protobuf or generated API headers
# (only plugin/ may convert between proto messages and domain types, docs/design.md), or when a
# folder includes one above it.
file(GLOB_RECURSE sources
  ${SOURCE_DIR}/common/*.h ${SOURCE_DIR}/common/*.cc
  ${SOURCE_DIR}/detector/*.h ${SOURCE_DIR}/detector/*.cc ${SOURCE_DIR}/detector/*.in
  ${SOURCE_DIR}/policy/*.h ${SOURCE_DIR}/policy/*.cc
  ${SOURCE_DIR}/store/*.h ${SOURCE_DIR}/store/*.cc)
set(violations "")
foreach(file IN LISTS sources)
  file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS lines)
    if(line MATCHES "(grpc|google/protobuf|\\.pb\\.h|hijackguard/v1/|plugin/)")
      string(APPEND violations "\n  ${file}: ${line}")
    endif()
  endforeach()
endforeach()
# nlohmann/json must not leak through public headers of detector/ and policy/.
file(GLOB_RECURSE headers ${SOURCE_DIR}/detector/*.h ${SOURCE_DIR}/policy/*.h)
foreach(file IN LISTS headers)
  if(file MATCHES "/internal/")
    continue()
  endif()
  file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include.*(nlohmann|sqlite3|openssl)")
  foreach(line IN LISTS lines)
    string(APPEND violations "\n  ${file}: ${line}")
  endforeach()
endforeach()
# Dependencies go one way: common <- detector <- policy <- store, plugin. A folder
# never includes one above it (store/ is below plugin/).
foreach(rule "common;detector|policy|plugin|store" "detector;policy|plugin|store"
        "policy;plugin|store" "store;plugin")
  list(GET rule 0 folder)
  list(GET rule 1 above)
  file(GLOB_RECURSE layer ${SOURCE_DIR}/${folder}/*.h ${SOURCE_DIR}/${folder}/*.cc
       ${SOURCE_DIR}/${folder}/*.in)
  foreach(file IN LISTS layer)
    file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"(${above})/")
    foreach(line IN LISTS lines)
      string(APPEND violations "\n  ${file}: ${line} (${folder}/ is below it)")
    endforeach()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "layering violations (see docs/design.md):${violations}")
endif()
message(STATUS "layering: ok")
