// Helpers for WBXML tests: bytes from hex, the MS-ASWBXML example, corpus
// files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/file.h"

namespace hijackguard::detector::wbxml::testing {

// "03 01 6A 00 45" -> the bytes. Spaces are ignored.
inline std::string Hex(std::string_view hex) {
  std::string out;
  int high = -1;
  for (char c : hex) {
    int v = -1;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      continue;
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>(high * 16 + v));
      high = -1;
    }
  }
  return out;
}

// The byte-by-byte example of MS-ASWBXML section 3 (a Sync response adding a
// contact).
inline std::string SpecExampleBytes() {
  return Hex(
      "03 01 6A 00 45 5C 4F 50 03 43 6F 6E 74 61 63 74 73 00 01 4B 03 32 00 01 "
      "52 03 32 00 01 4E 03 31 00 01 56 47 4D 03 32 3A 31 00 01 5D 00 11 4A 46 "
      "03 31 00 01 4C 03 30 00 01 4D 03 31 00 01 01 00 01 5E 03 46 75 6E 6B 2C "
      "20 44 6F 6E 00 01 5F 03 44 6F 6E 00 01 69 03 46 75 6E 6B 00 01 00 11 56 "
      "03 31 00 01 01 01 01 01 01 01");
}

// The XML of that example as the specification prints it.
inline constexpr const char* kSpecExampleXml =
    R"(<?xml version="1.0" encoding="utf-8"?>
<Sync xmlns="AirSync" xmlns:airsyncbase="AirSyncBase" xmlns:contacts="Contacts">
  <Collections>
    <Collection>
      <Class>Contacts</Class>
      <SyncKey>2</SyncKey>
      <CollectionId>2</CollectionId>
      <Status>1</Status>
      <Commands>
        <Add>
          <ServerId>2:1</ServerId>
          <ApplicationData>
            <airsyncbase:Body>
              <airsyncbase:Type>1</airsyncbase:Type>
              <airsyncbase:EstimatedDataSize>0</airsyncbase:EstimatedDataSize>
              <airsyncbase:Truncated>1</airsyncbase:Truncated>
            </airsyncbase:Body>
            <contacts:FileAs>Funk, Don</contacts:FileAs>
            <contacts:FirstName>Don</contacts:FirstName>
            <contacts:LastName>Funk</contacts:LastName>
            <airsyncbase:NativeBodyType>1</airsyncbase:NativeBodyType>
          </ApplicationData>
        </Add>
      </Commands>
    </Collection>
  </Collections>
</Sync>
)";

inline std::string CorpusDir() {
  return HIJACKGUARD_SOURCE_DIR "/tests/testdata/wbxml";
}

// Every *.xml file of the corpus, sorted.
inline std::vector<std::string> CorpusFiles() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(CorpusDir())) {
    if (e.path().extension() == ".xml") {
      files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

inline std::string ReadCorpus(const std::string& path) {
  return *ReadFileToString(path, 1 << 20);
}

}  // namespace hijackguard::detector::wbxml::testing
