/* The few symbols a CPython extension module expects its host process to provide.
 *
 * refvid loads the espeak-ng build that ships inside the piper-tts wheel (`piper/espeakbridge.so`,
 * espeak-ng 1.52.0.1 linked statically into a Python module). refvid only calls that library's
 * espeak-ng C API, never its Python entry points, but the dynamic loader still has to resolve
 * every data reference (and, with RTLD_NOW, every function) the module names. This stub is
 * loaded first with RTLD_GLOBAL and provides them: the data objects are inert, the functions
 * abort, and it links libm, whose exp/pow/cos the module takes from its host as well.
 */
#include <stdlib.h>

void *PyExc_RuntimeError = 0;
char _Py_NoneStruct[64];
char _Py_TrueStruct[64];
char _Py_FalseStruct[64];

#define NEVER_CALLED(name) void name(void) { abort(); }
NEVER_CALLED(PyArg_ParseTuple)
NEVER_CALLED(PyErr_Format)
NEVER_CALLED(PyErr_SetString)
NEVER_CALLED(PyList_Append)
NEVER_CALLED(PyList_New)
NEVER_CALLED(PyModule_Create2)
NEVER_CALLED(Py_BuildValue)
