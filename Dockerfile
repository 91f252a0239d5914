# Builds and runs alexnet on Debian with oneDNN. For GPUs, run the image with the
# NVIDIA container runtime and CUDA 12/13 + cuDNN 9 libraries on LD_LIBRARY_PATH:
# the binary loads them at run time, so the image needs no CUDA toolkit.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libdnnl-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /alexnet .

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libdnnl2 libturbojpeg0 dataset-fashion-mnist && rm -rf /var/lib/apt/lists/*
COPY --from=build /alexnet /usr/local/bin/alexnet
ENTRYPOINT ["alexnet"]
CMD ["train", "--out", "/runs/demo"]
