#include "plugin/wire_decoder.h"

#include <climits>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace hijackguard::plugin {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorProto;
using google::protobuf::FieldDescriptor;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::Message;
using google::protobuf::Reflection;

void StringsToBytes(DescriptorProto* message) {
  for (FieldDescriptorProto& field : *message->mutable_field()) {
    if (field.type() == FieldDescriptorProto::TYPE_STRING) {
      field.set_type(FieldDescriptorProto::TYPE_BYTES);
    }
  }
  for (DescriptorProto& nested : *message->mutable_nested_type()) {
    // A map's key cannot be bytes; as a plain repeated entry message it can,
    // and the wire format is the same.
    if (nested.options().map_entry()) {
      nested.mutable_options()->clear_map_entry();
    }
    StringsToBytes(&nested);
  }
}

// Adds `file` and its dependencies, dependencies first, with strings as bytes.
void AddLenientFile(const FileDescriptor* file, std::set<std::string>* done,
                    google::protobuf::DescriptorPool* pool) {
  if (!done->insert(file->name()).second) {
    return;
  }
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddLenientFile(file->dependency(i), done, pool);
  }
  FileDescriptorProto proto;
  file->CopyTo(&proto);
  for (DescriptorProto& message : *proto.mutable_message_type()) {
    StringsToBytes(&message);
  }
  pool->BuildFile(proto);
}

bool ParseBuffer(const grpc::ByteBuffer& bytes, Message* message) {
  // ProtoBufferReader only reads the buffer, though its constructor takes a
  // pointer to non-const.
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(&bytes));
  return message->ParseFromZeroCopyStream(&reader);
}

bool ParseBuffer(std::string_view bytes, Message* message) {
  return bytes.size() <= static_cast<std::size_t>(INT_MAX) &&
         message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

// Finds the first bytes field that is a string in `original` and holds invalid
// UTF-8, depth first in field order. Returns its path and sets *offset.
bool FindInvalidString(const Message& lenient, const Descriptor* original,
                       const std::string& prefix, std::string* path,
                       std::size_t* offset) {
  const Reflection* reflection = lenient.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(lenient, &fields);
  for (const FieldDescriptor* field : fields) {
    const FieldDescriptor* typed = original->FindFieldByNumber(field->number());
    if (typed == nullptr) {
      continue;
    }
    const std::string name = prefix + field->name();
    auto check = [&](const std::string& value, const std::string& where) {
      const std::size_t bad = FindInvalidUtf8(value);
      if (bad == std::string::npos) {
        return false;
      }
      *path = where;
      *offset = bad;
      return true;
    };
    if (typed->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(lenient, field); ++i) {
          if (check(reflection->GetRepeatedString(lenient, field, i),
                    StrCat(name, "[", i, "]"))) {
            return true;
          }
        }
      } else if (check(reflection->GetString(lenient, field), name)) {
        return true;
      }
    } else if (typed->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(lenient, field); ++i) {
          if (FindInvalidString(
                  reflection->GetRepeatedMessage(lenient, field, i),
                  typed->message_type(), StrCat(name, "[", i, "]."), path,
                  offset)) {
            return true;
          }
        }
      } else if (FindInvalidString(reflection->GetMessage(lenient, field),
                                   typed->message_type(), name + ".", path,
                                   offset)) {
        return true;
      }
    }
  }
  return false;
}

void FilteredProtobufLog(google::protobuf::LogLevel level, const char* filename,
                         int line, const std::string& message) {
  if (message.find("invalid UTF-8 data when parsing") != std::string::npos) {
    return;  // answered as INVALID_ARGUMENT by WireDecoder
  }
  const LogLevel ours =
      level >= google::protobuf::LOGLEVEL_ERROR
          ? LogLevel::kError
          : (level == google::protobuf::LOGLEVEL_WARNING ? LogLevel::kWarning
                                                         : LogLevel::kInfo);
  Log(ours, StrCat("protobuf ", filename, ":", line, ": ", message));
}

}  // namespace

WireDecoder::WireDecoder(const Descriptor* type)
    : type_(type),
      lenient_pool_(std::make_unique<google::protobuf::DescriptorPool>()) {
  std::set<std::string> done;
  AddLenientFile(type->file(), &done, lenient_pool_.get());
  const Descriptor* lenient =
      lenient_pool_->FindMessageTypeByName(type->full_name());
  lenient_factory_ = std::make_unique<google::protobuf::DynamicMessageFactory>(
      lenient_pool_.get());
  if (lenient != nullptr) {
    lenient_prototype_ = lenient_factory_->GetPrototype(lenient);
  }
}

WireDecoder::~WireDecoder() = default;

absl::Status WireDecoder::Parse(const grpc::ByteBuffer& bytes,
                                Message* message) const {
  if (ParseBuffer(bytes, message)) {
    return absl::OkStatus();
  }
  return Diagnose(bytes);
}

absl::Status WireDecoder::Parse(std::string_view bytes,
                                Message* message) const {
  if (ParseBuffer(bytes, message)) {
    return absl::OkStatus();
  }
  return Diagnose(bytes);
}

template <typename Bytes>
absl::Status WireDecoder::Diagnose(const Bytes& bytes) const {
  const std::string not_a_message = StrCat(
      "request: the bytes are not a valid ", type_->full_name(), " message");
  if (lenient_prototype_ == nullptr) {
    return absl::InvalidArgumentError(not_a_message);
  }
  std::unique_ptr<Message> lenient(lenient_prototype_->New());
  if (!ParseBuffer(bytes, lenient.get())) {
    return absl::InvalidArgumentError(not_a_message);
  }
  std::string path;
  std::size_t offset = 0;
  if (FindInvalidString(*lenient, type_, "", &path, &offset)) {
    return absl::InvalidArgumentError(
        StrCat(path, ": invalid UTF-8 at byte ", offset, " of the value"));
  }
  return absl::InvalidArgumentError(not_a_message);
}

void InstallProtobufLogFilter() {
  static std::once_flag once;
  std::call_once(once,
                 [] { google::protobuf::SetLogHandler(&FilteredProtobufLog); });
}

}  // namespace hijackguard::plugin
