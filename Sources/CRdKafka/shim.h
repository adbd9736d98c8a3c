// The only C surface of GridHub: librdkafka and its mock cluster (Debian `librdkafka-dev`).
// Imported by the GridHubKafka module alone.
#ifndef GRIDHUB_CRDKAFKA_SHIM_H
#define GRIDHUB_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
