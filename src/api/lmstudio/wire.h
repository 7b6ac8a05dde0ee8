// LM Studio's wire format (issue 14). (Being written.)
#pragma once

namespace modeld::api::lmstudio {}  // namespace modeld::api::lmstudio
