#include <gtest/gtest.h>

#include "api/lmstudio/wire.h"
