import { Skeleton } from "@/components/skeleton"

export default function Loading() {
  return <Skeleton rows={6} />
}
