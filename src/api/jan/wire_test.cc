#include "api/jan/wire.h"

#include <gtest/gtest.h>
