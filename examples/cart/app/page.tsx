import { Catalog } from "@/components/catalog"

export default function CatalogPage() {
  return (
    <>
      <h1>Catalog</h1>
      <Catalog />
    </>
  )
}
