// Jan's and cortex's wire format (issue 14). (Being written.)
#pragma once

namespace modeld::api::jan {}  // namespace modeld::api::jan
