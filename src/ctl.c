#include "config.h"
#include "ctl.h"
