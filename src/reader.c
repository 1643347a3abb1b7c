#include "config.h"
#include "reader.h"
