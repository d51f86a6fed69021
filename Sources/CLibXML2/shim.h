// Debian's libxml2 is built with ICU, and libxml/encoding.h then includes the
// system's <unicode/ucnv.h>. Foundation ships its own ICU headers
// (_FoundationICU) with a different UErrorCode, and clang refuses to import
// both into one Swift module ("... is not present in definition of 'enum
// UErrorCode'"). Nothing here uses libxml2's ICU converters, so hide them:
// only the tail of xmlCharEncodingHandler (two pointers) changes, and Swift
// never allocates that struct.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlerror.h>
