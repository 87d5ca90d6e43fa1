#include "detector/eas/settings.h"

#include "detector/wbxml/document.h"

namespace hijackguard::detector::eas {
namespace {

// The first child element of `parent` called `name`, or -1.
int Child(const wbxml::Document& doc, int parent, std::string_view name) {
  for (int i = doc.at(parent).first_child; i >= 0; i = doc.at(i).next_sibling) {
    const wbxml::Node& n = doc.at(i);
    if (n.kind == wbxml::Node::Kind::kElement && doc.Name(n) == name) return i;
  }
  return -1;
}

void ReadAddresses(const wbxml::Document& doc, int email_addresses,
                   std::size_t max, MailboxAddresses* out) {
  for (int i = doc.at(email_addresses).first_child; i >= 0;
       i = doc.at(i).next_sibling) {
    const wbxml::Node& n = doc.at(i);
    if (n.kind != wbxml::Node::Kind::kElement) continue;
    const std::string_view name = doc.Name(n);
    const std::string_view text = doc.Text(n);
    if (text.empty() || text.size() > 320) continue;
    if (name == "PrimarySmtpAddress" && out->primary.empty()) {
      out->primary = std::string(text);
    } else if (name == "SmtpAddress" &&
               out->others.size() + (out->primary.empty() ? 0 : 1) < max) {
      out->others.emplace_back(text);
    }
  }
}

}  // namespace

MailboxAddresses ReadMailboxAddresses(std::string_view body,
                                      std::size_t max_addresses,
                                      const wbxml::ReaderOptions& options) {
  MailboxAddresses out;
  const wbxml::Document doc = wbxml::Decode(body, options);
  const wbxml::Node* root = doc.root();
  if (root == nullptr || doc.Name(*root) != "Settings") return out;
  const int info = Child(doc, 0, "UserInformation");
  if (info < 0) return out;
  const int get = Child(doc, info, "Get");
  if (get < 0) return out;
  out.found = true;
  if (const int list = Child(doc, get, "EmailAddresses"); list >= 0) {
    ReadAddresses(doc, list, max_addresses, &out);  // 12.1, 14.0
  }
  if (const int accounts = Child(doc, get, "Accounts"); accounts >= 0) {
    if (const int account = Child(doc, accounts, "Account"); account >= 0) {
      if (const int list = Child(doc, account, "EmailAddresses"); list >= 0) {
        ReadAddresses(doc, list, max_addresses, &out);  // 14.1+
      }
    }
  }
  return out;
}

}  // namespace hijackguard::detector::eas
