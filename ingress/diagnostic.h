#pragma once
#include "routing/diagnostic.h"
// The compiler and the sources report problems as routing::Diagnostic (defined beside the
// route table so that admin/ can show them without knowing Kubernetes types).
