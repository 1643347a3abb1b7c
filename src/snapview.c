#include "config.h"
#include "snapview.h"
