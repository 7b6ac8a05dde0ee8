#include <gtest/gtest.h>

#include "api/jan/wire.h"
