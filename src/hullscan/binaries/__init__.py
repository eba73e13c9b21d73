"""Binary classifiers: versions of components found in executables and libraries that no
package manager registered, and the end-of-life table for runtimes and libraries."""
