#include "api/lmstudio/wire.h"
