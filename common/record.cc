#include "common/record.h"

#include <limits>

#include "common/strings.h"

namespace hijackguard {

void RecordWriter::U64(std::uint64_t v) {
  while (v >= 0x80) {
    out_->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out_->push_back(static_cast<char>(v));
}

void RecordWriter::I64(std::int64_t v) {
  U64((static_cast<std::uint64_t>(v) << 1) ^
      static_cast<std::uint64_t>(v >> 63));
}

void RecordWriter::Bytes(std::string_view v) {
  U64(v.size());
  out_->append(v);
}

void RecordWriter::Time(absl::Time t) {
  if (t == absl::InfinitePast()) {
    I64(std::numeric_limits<std::int64_t>::min());
  } else if (t == absl::InfiniteFuture()) {
    I64(std::numeric_limits<std::int64_t>::max());
  } else {
    I64(absl::ToUnixMicros(t));
  }
}

void RecordWriter::OptInt(const std::optional<int>& v) {
  Bool(v.has_value());
  if (v) {
    I64(*v);
  }
}

bool RecordReader::Invalid(std::string_view field, std::string_view problem) {
  if (status_.ok()) {
    status_ = absl::DataLossError(StrCat(
        what_, ": field ", field, " at byte offset ", pos_, ": ", problem));
  }
  return false;
}

bool RecordReader::U64(std::string_view field, std::uint64_t* v) {
  if (!status_.ok()) {
    return false;
  }
  std::uint64_t value = 0;
  const std::size_t start = pos_;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) {
      pos_ = start;
      return Invalid(field, "the record ends inside a number");
    }
    const auto byte = static_cast<unsigned char>(data_[pos_++]);
    if (shift == 63 && byte > 1) {
      pos_ = start;
      return Invalid(field, "a number is over 64 bits");
    }
    value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      *v = value;
      return true;
    }
  }
  pos_ = start;
  return Invalid(field, "a number is over 64 bits");
}

bool RecordReader::I64(std::string_view field, std::int64_t* v) {
  std::uint64_t u = 0;
  if (!U64(field, &u)) {
    return false;
  }
  *v = static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

bool RecordReader::Int(std::string_view field, int* v) {
  std::int64_t wide = 0;
  const std::size_t start = pos_;
  if (!I64(field, &wide)) {
    return false;
  }
  if (wide < std::numeric_limits<int>::min() ||
      wide > std::numeric_limits<int>::max()) {
    pos_ = start;
    return Invalid(field, "the value does not fit a 32-bit integer");
  }
  *v = static_cast<int>(wide);
  return true;
}

bool RecordReader::Bool(std::string_view field, bool* v) {
  std::uint64_t u = 0;
  const std::size_t start = pos_;
  if (!U64(field, &u)) {
    return false;
  }
  if (u > 1) {
    pos_ = start;
    return Invalid(field, "a flag is neither 0 nor 1");
  }
  *v = u == 1;
  return true;
}

bool RecordReader::Bytes(std::string_view field, std::string* v) {
  std::uint64_t n = 0;
  const std::size_t start = pos_;
  if (!U64(field, &n)) {
    return false;
  }
  if (n > data_.size() - pos_) {
    pos_ = start;
    return Invalid(field,
                   StrCat("a string of ", n, " bytes runs past the end (",
                          data_.size(), " bytes)"));
  }
  v->assign(data_.substr(pos_, n));
  pos_ += n;
  return true;
}

bool RecordReader::Time(std::string_view field, absl::Time* v) {
  std::int64_t us = 0;
  if (!I64(field, &us)) {
    return false;
  }
  if (us == std::numeric_limits<std::int64_t>::min()) {
    *v = absl::InfinitePast();
  } else if (us == std::numeric_limits<std::int64_t>::max()) {
    *v = absl::InfiniteFuture();
  } else {
    *v = absl::FromUnixMicros(us);
  }
  return true;
}

bool RecordReader::OptInt(std::string_view field, std::optional<int>* v) {
  bool present = false;
  if (!Bool(field, &present)) {
    return false;
  }
  if (!present) {
    v->reset();
    return true;
  }
  int value = 0;
  if (!Int(field, &value)) {
    return false;
  }
  *v = value;
  return true;
}

bool RecordReader::ExpectFormat(std::uint64_t expected) {
  std::uint64_t format = 0;
  if (!U64("format", &format)) {
    return false;
  }
  if (format != expected) {
    return Invalid("format", StrCat("format ", format,
                                    " is not the one this version reads (",
                                    expected, ")"));
  }
  return true;
}

bool RecordReader::End() {
  if (!status_.ok()) {
    return false;
  }
  if (pos_ != data_.size()) {
    return Invalid("(end)",
                   StrCat(data_.size() - pos_, " bytes follow the last field"));
  }
  return true;
}

}  // namespace hijackguard
