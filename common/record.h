// A compact binary record format for durable state rows: unsigned varints,
// zig-zag signed varints and length-prefixed byte strings, written and read in
// a fixed order by the code that owns the row. Reading is bounds-checked: a
// short or malformed record gives an error naming the field and the byte
// offset, never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace hijackguard {

class RecordWriter {
 public:
  explicit RecordWriter(std::string* out) : out_(out) {}
  void U64(std::uint64_t v);
  void I64(std::int64_t v);
  void Bool(bool v) { U64(v ? 1 : 0); }
  void Bytes(std::string_view v);
  // Unix microseconds; the infinities map to the int64 extremes.
  void Time(absl::Time t);
  void OptInt(const std::optional<int>& v);

 private:
  std::string* out_;
};

class RecordReader {
 public:
  // `what` names the record in errors ("device row").
  RecordReader(std::string_view data, std::string_view what)
      : data_(data), what_(what) {}
  // Each returns false (and sets status()) when the record is short or
  // malformed; after a failure every read fails.
  bool U64(std::string_view field, std::uint64_t* v);
  bool I64(std::string_view field, std::int64_t* v);
  bool Int(std::string_view field, int* v);  // must fit an int
  bool Bool(std::string_view field, bool* v);
  bool Bytes(std::string_view field, std::string* v);
  bool Time(std::string_view field, absl::Time* v);
  bool OptInt(std::string_view field, std::optional<int>* v);
  // The record must be wholly read; false (with an error) when bytes remain.
  bool End();
  // Whether everything has been read (for fields added at the end later).
  bool AtEnd() const { return pos_ == data_.size(); }

  // Reads the format number that starts a row; false (with an error) when
  // it is not `expected`.
  bool ExpectFormat(std::uint64_t expected);
  // Records a problem with `field` at the current offset; returns false.
  bool Invalid(std::string_view field, std::string_view problem);

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

 private:
  std::string_view data_;
  std::string_view what_;
  std::size_t pos_ = 0;
  absl::Status status_;
};

}  // namespace hijackguard
