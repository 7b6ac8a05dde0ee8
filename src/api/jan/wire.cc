#include "api/jan/wire.h"
