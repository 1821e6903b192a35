/* The inference detectors' compiled kernels (optional; see hatch_build.py).
 *
 * Each function here has a NumPy twin in the module that calls it, which stays the reference:
 * tests run both on the same inputs and compare. Inputs arrive through the buffer protocol
 * (C-contiguous float64 or float32 arrays); nothing here keeps a reference to them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyMethodDef kernel_methods[] = {
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel", "Compiled kernels of the inference detectors.", -1,
    kernel_methods,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    PyObject *module = PyModule_Create(&kernel_module);
    if (module != NULL && PyModule_AddIntConstant(module, "ABI", 1) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
