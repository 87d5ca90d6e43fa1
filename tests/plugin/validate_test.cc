#include "plugin/validate.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::hijackguard::testing::StatusIs;
using ::testing::StartsWith;

v1::CheckInRequest Valid() {
  v1::CheckInRequest r;
  r.set_tenant_id("tenant.example:prod-1");
  r.mutable_device()->set_mdm_device_id("mdm-42");
  return r;
}

TEST(ValidateCheckInTest, AcceptsMinimalAndFullRequests) {
  EXPECT_THAT(ValidateCheckInRequest(Valid()), IsOk());
  v1::CheckInRequest r = Valid();
  r.mutable_eas()->set_user_agent(std::string(1024, 'a'));
  r.mutable_eas()->set_protocol_version("14.1");
  r.mutable_inventory()->set_model_name(std::string(256, 'm'));
  r.mutable_checked_in_at()->set_seconds(1350950400);
  r.mutable_checked_in_at()->set_nanos(999999999);
  EXPECT_THAT(ValidateCheckInRequest(r), IsOk());
}

TEST(ValidateCheckInTest, EveryLengthLimitNamesItsField) {
  struct Field {
    const char* name;
    std::string* (*mutable_field)(v1::CheckInRequest*);
    std::size_t limit;
  };
  const Field fields[] = {
      {"device.mdm_device_id",
       [](auto* r) { return r->mutable_device()->mutable_mdm_device_id(); },
       256},
      {"device.eas_device_id",
       [](auto* r) { return r->mutable_device()->mutable_eas_device_id(); },
       256},
      {"device.user_principal",
       [](auto* r) { return r->mutable_device()->mutable_user_principal(); },
       256},
      {"device.primary_smtp_address",
       [](auto* r) {
         return r->mutable_device()->mutable_primary_smtp_address();
       },
       256},
      {"eas.user_agent",
       [](auto* r) { return r->mutable_eas()->mutable_user_agent(); }, 1024},
      {"eas.device_type",
       [](auto* r) { return r->mutable_eas()->mutable_device_type(); }, 256},
      {"eas.device_os",
       [](auto* r) { return r->mutable_eas()->mutable_device_os(); }, 256},
      {"eas.device_model",
       [](auto* r) { return r->mutable_eas()->mutable_device_model(); }, 256},
      {"eas.friendly_name",
       [](auto* r) { return r->mutable_eas()->mutable_friendly_name(); }, 256},
      {"inventory.product_name",
       [](auto* r) { return r->mutable_inventory()->mutable_product_name(); },
       256},
      {"inventory.os_version",
       [](auto* r) { return r->mutable_inventory()->mutable_os_version(); },
       256},
      {"inventory.build_version",
       [](auto* r) { return r->mutable_inventory()->mutable_build_version(); },
       256},
      {"inventory.model_name",
       [](auto* r) { return r->mutable_inventory()->mutable_model_name(); },
       256},
  };
  for (const Field& f : fields) {
    v1::CheckInRequest r = Valid();
    *f.mutable_field(&r) = std::string(f.limit, 'x');
    EXPECT_THAT(ValidateCheckInRequest(r), IsOk()) << f.name;
    *f.mutable_field(&r) = std::string(f.limit + 1, 'x');
    EXPECT_THAT(ValidateCheckInRequest(r),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         StartsWith(std::string(f.name) + ":")))
        << f.name;
  }
}

TEST(ValidateCheckInTest, ProtocolVersionShape) {
  for (const char* ok : {"2.5", "12.1", "14.1", "16.1"}) {
    v1::CheckInRequest r = Valid();
    r.mutable_eas()->set_protocol_version(ok);
    EXPECT_THAT(ValidateCheckInRequest(r), IsOk()) << ok;
  }
  for (const char* bad :
       {"14", "14.", ".1", "141.1", "14.1.0", "v14.1", "14,1"}) {
    v1::CheckInRequest r = Valid();
    r.mutable_eas()->set_protocol_version(bad);
    EXPECT_THAT(ValidateCheckInRequest(r),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         StartsWith("eas.protocol_version")))
        << bad;
  }
}

}  // namespace
}  // namespace hijackguard::plugin
