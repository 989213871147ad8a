# Open MPI settings for running blazer programs as root on a small machine (source this).
# - run as root (containers, CI);
# - yield when idle, so oversubscribed ranks do not starve each other of CPU;
# - the ob1 transport layer, which skips a slow UCX probe at start-up.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_pml=ob1
