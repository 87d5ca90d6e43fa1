// The Settings command's UserInformation answer (MS-ASCMD 2.2.1.18): the
// mailbox's SMTP addresses, which tell a gateway without an MDM who owns a
// device's mailbox. Protocol 12.1 and 14.0 list every address as SmtpAddress
// (Get > EmailAddresses); 14.1 and later name the primary one
// (Get > Accounts > Account > EmailAddresses > PrimarySmtpAddress, the rest
// SmtpAddress). Accounts other than the first are connected accounts of other
// mailboxes: not the owner's, so not read.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "detector/wbxml/reader.h"

namespace hijackguard::detector::eas {

struct MailboxAddresses {
  std::string primary;              // "" when the answer does not say
  std::vector<std::string> others;  // every other address, in order
  bool found = false;  // the body is a Settings answer with UserInformation
};

// Reads a Settings response body; at most `max_addresses` addresses.
MailboxAddresses ReadMailboxAddresses(std::string_view body,
                                      std::size_t max_addresses = 32,
                                      const wbxml::ReaderOptions& options = {});

}  // namespace hijackguard::detector::eas
